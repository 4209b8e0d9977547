"""vcn: Variational Capsule Networks (Huang et al., 2018) for attribute analysis and synthesis."""
