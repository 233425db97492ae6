"""Class-agnostic temporal proposals.

- ``sliding_window``  multi-scale sliding windows
- ``tag``             Temporal Actionness Grouping (bottom-up proposals from actionness curves)
- ``bmn``             BMN's rules: boundary-matching sampling, targets, candidates, seconds
- ``bsn``             BSN's rules: TEM targets, PGM candidates, ground-truth matching, BSP features
- ``ssad``            Decouple-SSAD's rules: windows, targets, anchors, decoding, matching, losses
- ``windows``         proposals of windows -> each video's top proposals in seconds (soft-NMS), for BMN and BSN
"""
