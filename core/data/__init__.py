"""MNIST and what is done to images before a model sees them.

Acquisition and splits (mnist), drawing and upload preprocessing (preprocess), cutting a number into
digits (segment), input corruptions (corruptions).
"""
