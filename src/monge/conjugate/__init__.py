"""Convex conjugates ψ̄(y) = max_x ⟨x, y⟩ − ψ(x) and their argmax x*(y) = (∇ψ)⁻¹(y), batched.

Same layer as :mod:`monge.nets`: used by solvers that need the inverse of a gradient map and by the
benchmark pairs to invert true ICNN maps (Korotin et al., NeurIPS 2021).
"""

from monge.conjugate.solvers import AdamConjugate, ConjugateResult, ConjugateSolver, LBFGSConjugate, conjugate

__all__ = ["AdamConjugate", "ConjugateResult", "ConjugateSolver", "LBFGSConjugate", "conjugate"]
