"""From videos to frames: decoding, optical flow, and the synthetic videos of the demo.

- ``video``       decoding, probing, resizing, JPEG encoding; the list of video extensions
- ``flow``        optical flow algorithms (OpenCV) and DenseFlow quantisation
- ``tvl1_torch``  TV-L1 optical flow in PyTorch (batched, GPU when present)
- ``synthetic``   the synthetic benchmark dataset generator
- ``snippets``    snippet geometry: which frames each row of a feature sequence reads
"""
