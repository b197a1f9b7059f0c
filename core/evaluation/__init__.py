"""The evaluation protocol.

Metric specs and their protocol texts (specs, torch-free), the evaluator, the results table (table),
FID/IS maths (metrics), InceptionV3 (inception), noise robustness (robustness), published values
(reference).
"""
