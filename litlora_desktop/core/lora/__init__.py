"""LIT-LoRA: samples made from the annotator's corrections, small LoRA adapters on SAM2's mask
decoder trained on them, and the candidate masks those adapters propose on later frames."""
