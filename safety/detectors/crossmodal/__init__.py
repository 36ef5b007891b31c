"""Cross-modal (text + image) joint embeddings and the detector built on them."""
