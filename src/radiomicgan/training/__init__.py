"""Training a harmonizer, the shared core: paired slices, GAN steps, Dynamic Window-based Training,
checkpoints and the loop every method runs through (`loop.run_training`).

The core imports no method: a method hands it a `parts.Method` record (`radiomicgan.methods`
registers them), and `radiomicgan.train.train` joins the two.
"""
