"""Methods that Dis-GU is measured against; the VAE baselines train as a stage of their own (disgu.stages.vae)."""
