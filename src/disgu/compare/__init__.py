"""`disgu compare`: run every method over seeds (resumable), then one table against the paper's Table 1.

`plan` says what to run, `runner` runs it J at a time, `table` and `factors` read the finished run dirs.
"""
