"""A model's life: training, evaluation, the promotion gate, the versioned store that owns every
version folder, the model card, active learning, and the served-model holder."""
