"""The Dis-GU pipeline: Glow -> direction discovery -> contrastive encoder -> evaluation -> traversals.

Import `disgu.pipeline.run.run_pipeline` and `disgu.pipeline.config.make_config`; this package
init imports nothing heavy so stage modules can be used on their own.
"""
