"""Learning: training tiles and their looks, training, fine-tuning on marks,
adversarial adaptation, colour transfer, region sampling."""
