"""`python -m radiomicgan` (also what `torchrun -m radiomicgan` runs)."""

from radiomicgan.cli import main

raise SystemExit(main())
