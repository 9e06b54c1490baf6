"""The `facealign` commands, one module each: its arguments (`add_arguments(parser)`) and a thin
`run(args) -> int` over the library. Flags that several commands take are declared once, in args.py."""
