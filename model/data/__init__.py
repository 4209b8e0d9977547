"""Data: procedural faces with ground truth (faces), CelebA's on-disk layout (celeba), MNIST (mnist).

Import the submodule you need (`from model.data import faces`); nothing heavy is imported here.
"""
