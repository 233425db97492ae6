"""From scores to figures.

- ``postprocess``     SSN results -> detections (scores, regression, NMS)
- ``fusion``          RGB + Flow result fusion
- ``detection_eval``  detection mAP (THUMOS14 and ActivityNet protocols)
- ``validation``      detection mAP of held-out videos while SSN trains (the metric of checkpoint_best.pth)
- ``label_proposals`` class-agnostic proposals into detections: video-id alignment, top-n per video, video-level classes
- ``proposal_eval``   proposal recall, AR@AN and AUC
- ``timeline``        timeline pictures (ground truth vs detections, PNG via OpenCV)
- ``plots``           line charts drawn with OpenCV (panels, legends)
- ``comparison``      one table and one picture comparing methods (proposals AR@AN, detection mAP by IoU, times)
- ``ssad_post``       Decouple-SSAD post-processing: stream fusion, filters, top-3 classes, CliffDiving rule, NMS
"""
