"""The identity metric for real faces: :mod:`dicmini.identity` (dlib face-descriptor distance between an SR face
and its HR face), re-exported here. It is defined below :mod:`dicmini.train`, whose evaluation reports it."""

from __future__ import annotations

from ..identity import (FALLBACK_BOX, SAME_PERSON_THRESHOLD, face_descriptor, face_recognizer, identity_available,
                        identity_distance, identity_distances, reference_landmarks)

__all__ = ["FALLBACK_BOX", "SAME_PERSON_THRESHOLD", "face_descriptor", "face_recognizer", "identity_available",
           "identity_distance", "identity_distances", "reference_landmarks"]
