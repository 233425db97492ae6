"""Shared code of the temporal action detection pipeline.

Every top-level stage script imports from here; nothing in this package runs
at import time.  The folders read as the pipeline, one role each:

Ground floor (what every room uses)
- ``ops.device``    the one reading of ``--device`` (auto, cpu, cuda, cuda:N), checked before any work
- ``ops.errors``    InputError / SetupError and ``run_main`` (one-line errors, exit 2)
- ``ops.io``        reading text and JSON safely (BOM, duplicate keys, NaN); atomic file writes, safe temp folders
- ``ops.log``       logging set-up shared by the scripts
- ``ops.temporal``  interval IoU, NMS, the only seconds / frames / fractions conversions

``ops.formats``     every on-disk contract: one reader and one writer per layout
``ops.video``       decoding, optical flow, the PyTorch TV-L1, the synthetic dataset generator
``ops.proposals``   proposal generation: sliding windows, TAG
``ops.models``      backbones, the model builder, SSN and its folded-head inference
``ops.train``       the one training engine, proposal sampling, transforms, frame datasets
``ops.evaluation``  post-processing, fusion, detection and proposal metrics, timeline pictures

Each folder's ``__init__`` lists its modules.
"""
