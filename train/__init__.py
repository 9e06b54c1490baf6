"""The repository's training entry point: `python -m train` = `facealign train` (facealign/training/).
This folder also keeps the experiment configs (configs/, installed as facealign/training/configs)
and the shell scripts that ran the shipped weights and the study."""
