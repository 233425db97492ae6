"""Training and data loading.

- ``engine``      the one training loop, checkpoints, runtime (device, DDP, AMP) and shared flags
- ``sampling``    SSN proposal sampling (foreground / incomplete / background)
- ``transforms``  crops, flips, normalisation, channel order
- ``dataset``     frame-loading datasets (classifier, SSN, snippet extraction), checked checkpoint inputs
- ``feature_dataset`` snippet-feature windows with the method's targets (BMN, BSN, SSAD), feature checks
- ``losses``      losses shared by the feature-based methods (binary logistic loss of BSN/BMN)
- ``feature_stage`` what the feature-based stages share: preset settings, windows, the validation split
- ``ssad_windows`` Decouple-SSAD's windows over per-video features, their targets and batches
"""
