"""Networks.

- ``backbones``      the one backbone builder (tiny, ResNet, BN-Inception), weights files, input specs
- ``builder``        the model builder: config -> model, checkpoints -> model, backbone flags
- ``ssn``            Structured Segment Networks: STPP, heads, losses, reference checkpoints
- ``ssn_inference``  folded-head scoring of all proposals of a video
- ``video_classifier`` video-level multi-label classifier on snippet features (classify_videos.py)
- ``bmn``            BMN: the network with a sparse boundary-matching layer, its losses and inference
- ``bsn``            BSN: the TEM and PEM networks and their losses
- ``ssad``           main-stream SSAD and Decouple-SSAD (TensorFlow "same" padding, the spec's parameter counts)
"""
