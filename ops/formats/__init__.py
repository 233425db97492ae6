"""Every on-disk contract of the pipeline: one reader and one writer per file layout.

- ``frames``         the frame-folder contract (file names, metadata, counts, pre-flight check)
- ``annotations``    annotation databases (THUMOS14, ActivityNet, custom) and ``load_annotations``
- ``presets``        dataset presets stored in ``data/``
- ``proposal_list``  the SSN proposal-list text format (one reader, one writer), proposal labelling
- ``actionness``     per-frame actionness files (``binary_test.py`` -> TAG)
- ``video_scores``   video-level class scores (CUHK'17 JSON layout and score vectors)
- ``results``        SSN result files (original pickle layout, safe loading), raw per-frame outputs
- ``detections``     detection and proposal files (ActivityNet JSON, THUMOS14 text, detection CSV, BSN/BMN CSV)
- ``features``       snippet-feature files (ours, csv_mean_100, ActionFormer/OpenTAD), their record, rescaling
- ``run_times``      wall times of pipeline steps recorded by the numbered scripts
- ``bsn_outputs``    BSN's TEM curves and PGM proposals (ours, and the original's CSV layouts)
- ``ssad_files``     Decouple-SSAD's window list, annotation and prediction CSVs, released window features
"""
