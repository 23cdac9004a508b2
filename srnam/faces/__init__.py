"""Faces in photos: finding them, framing them as the corpus frames its faces, and the search over them.

- ``framing``: where a face sits in the squares the models were trained on (constants and crops; no detector);
- ``detect``: the detectors (OpenCV's Haar cascade for one face, dlib's HOG for every face: the faces extra);
- ``alignment``: the five landmarks and the similarity transform onto the corpus's own landmark positions;
- ``pose``: rotated and tilted faces (the pose-varied evaluation set, the residual tilt of an aligned crop);
- ``lr_input``: the 16×16 input made from what a user uploads (the app's face tab, ``srnam upscale``);
- ``photo``: whole photos: every face found, searched and blended back (the app's photo tab, ``--all-faces``).

This package imports none of them, so that ``srnam.faces.framing`` needs neither OpenCV nor dlib.
"""
