"""From scores to figures.

- ``postprocess``     SSN results -> detections (scores, regression, NMS)
- ``fusion``          RGB + Flow result fusion
- ``detection_eval``  detection mAP (THUMOS14 and ActivityNet protocols)
- ``proposal_eval``   proposal recall, AR@AN and AUC
- ``timeline``        timeline pictures (ground truth vs detections, PNG via OpenCV)
"""
