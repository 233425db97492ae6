"""Shared code of the temporal action detection pipeline.

Every top-level stage script imports from here; nothing in this package runs
at import time.  One module per format or concept:

- ``ops.io``             atomic file writes, safe temp folders
- ``ops.log``            logging set-up shared by the scripts
- ``ops.frames``         the frame-folder contract (file names, metadata, counts)
- ``ops.proposal_list``  the SSN proposal-list text format (one reader, one writer)
                         and labelling of proposals against ground truth
- ``ops.annotations``    annotation databases (THUMOS14, ActivityNet, custom)
- ``ops.presets``        dataset presets stored in ``data/``
- ``ops.synthetic``      the synthetic benchmark dataset generator
"""
