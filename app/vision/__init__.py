"""Vision: the face engine, embedders, tracking, quality, decisions, the pipeline and its worker thread."""
