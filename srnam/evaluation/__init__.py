"""Judging generators and searches: metrics, the evaluation run over a face set, and the figures of a model card.

- ``metrics``: pixel metrics (torch only), sharpness, Fréchet distances, and the dlib face analyser;
- ``run``: ``evaluate`` over dev, LFW or real faces: the LR inputs, the search, the scores and their summary;
- ``results``: what ``evaluate`` returns, as typed records (``EvaluationResult``; ``results.json`` is its JSON);
- ``progress``: the finished batches of a running evaluation, kept on disk (``srnam evaluate --resume``);
- ``report``: the Markdown table, the plots and the output folder (``srnam evaluate``'s outputs);
- ``camera_realism``: how close the camera model's photos are to the LR domain (the degradation trainer's FD);
- ``synthetic_crowd``: group photos made of corpus faces, with their true boxes (the detector's benchmark);
- ``whole_photo``: the realism of the faces ``enhance_photo`` puts into such crowds, against bicubic and the truth;
- ``showcase``: the figures of a model card (camera examples, searches, samples);
- ``card``: the model card's sections (the runs, examples, before and after, an evaluation; ``train/publish.py``).

This package imports none of them: each pulls in only what it needs.
"""
