"""What is fitted: sparse Bayesian layers and networks, SBL models, BO surrogates, PFNs."""
