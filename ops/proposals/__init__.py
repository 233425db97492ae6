"""Class-agnostic temporal proposals.

- ``sliding_window``  multi-scale sliding windows
- ``tag``             Temporal Actionness Grouping (bottom-up proposals from actionness curves)
"""
