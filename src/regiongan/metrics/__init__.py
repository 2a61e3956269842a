"""Metrics shared by every method: locality (In/Out MSE in CIELAB), Fréchet distance, part-parser scores."""
