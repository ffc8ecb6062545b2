"""The training layer every stage uses.

checkpoints.py (atomic, the last N kept), logs.py (log.jsonl + TensorBoard, cut back on resume),
stop.py (SIGTERM / Ctrl-C stop after the step, with a checkpoint), progress.py (the bar) and
nan_guard.py (skip non-finite steps) and shifts.py (the directions and shifts of a training pair)
are shared; DDP is disgu.distributed. Each stage reads the
previous stage's saved output and writes its own stage dir: log.jsonl, checkpoints/, summary.json
(+ tensorboard/). The stages themselves are disgu.stages.
"""
