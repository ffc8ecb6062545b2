"""The training stages, one package each: glow, discovery, contrastive, glow_ica and the VAE baselines' vae.

Each holds its config, step, loss and loop, on the shared layer of disgu.training; each reads the
previous stage's saved output and writes its own stage dir.
"""
