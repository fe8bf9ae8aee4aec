"""Vision: the face engine (detection, landmarks, chips, descriptors) and, later, the pipeline."""
