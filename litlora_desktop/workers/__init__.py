"""Qt workers: the one model thread and the frame loader. Results come back through signals."""
