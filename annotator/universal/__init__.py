"""The fleet loop on the web side: taxonomy mapping, contribution, base retraining, the multi-project gate, rebase."""
