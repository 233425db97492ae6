"""Shared code of the temporal action detection pipeline.

Every top-level stage script imports from here; nothing in this package runs
at import time.  One module per format or concept:

Formats and data
- ``ops.io``             atomic file writes, safe temp folders
- ``ops.log``            logging set-up shared by the scripts
- ``ops.frames``         the frame-folder contract (file names, metadata, counts, pre-flight check)
- ``ops.proposal_list``  the SSN proposal-list text format (one reader, one writer), proposal labelling
- ``ops.annotations``    annotation databases (THUMOS14, ActivityNet, custom) and ``load_annotations``
- ``ops.presets``        dataset presets stored in ``data/``
- ``ops.temporal``       interval IoU, NMS, the only seconds / frames / fractions conversions
- ``ops.actionness``     per-frame actionness files (``binary_test.py`` -> TAG)
- ``ops.results``        SSN result files (original pickle layout, safe loading), raw per-frame outputs
- ``ops.detections``     detection and proposal files (ActivityNet JSON, THUMOS14 text, detection CSV, BSN/BMN CSV)
- ``ops.synthetic``      the synthetic benchmark dataset generator

Stages
- ``ops.video``, ``ops.flow``, ``ops.tvl1_torch``   decoding, optical flow, DenseFlow quantisation
- ``ops.sliding_window``, ``ops.tag``               proposal generation
- ``ops.backbones``, ``ops.models``, ``ops.ssn``    networks (one backbone builder), SSN heads and losses
- ``ops.sampling``, ``ops.transforms``, ``ops.dataset``  proposal sampling and frame-loading datasets
- ``ops.engine``         the one training loop, checkpoints, shared flags
- ``ops.ssn_inference``  folded-head scoring of all proposals of a video
- ``ops.postprocess``, ``ops.detection_eval``, ``ops.proposal_eval``  SSN post-processing and metrics
- ``ops.timeline``       timeline pictures (ground truth vs detections, PNG via OpenCV)
"""
