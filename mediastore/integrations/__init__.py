"""Training frameworks that log into mediastore, one module each, imported only when used.

- ``mediastore.integrations.lightning``: ``MediaStoreLogger``, a PyTorch Lightning ``Logger``
  with the methods of Lightning's ``WandbLogger`` (``pip install "mediastore[lightning]"``).
- ``mediastore.integrations.pytorch_lightning``: the same logger for the older
  ``pytorch_lightning`` package name.
- ``mediastore.integrations.transformers``: ``MediaStoreCallback``, a Hugging Face ``Trainer``
  callback; importing the module also makes ``TrainingArguments(report_to="mediastore")`` work
  (``pip install "mediastore[transformers]"``).

``import mediastore`` (and ``import mediastore.integrations``) imports none of them, nor torch.
"""
