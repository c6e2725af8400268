"""Numbers about minima: sharpness, curvature, grid geometry, probes, mode connectivity.

Belongs here: Hessian-vector products, eigenvalues, trace and spectral density (``hessian``,
``sharpness``, ``sharpness_results``), the same repeated over seeded data draws with their spread
(``draws``), geometry of a computed grid (``geometry``: curvature, basin
width, local minima, roughness), probes of a trained net (``probes``: dead units, BN modes,
gradient flow at a point), curves between two minima (``connect``), the Hessian measured along
training (``tracking``: the tracker ``training.fit`` calls every N steps, and the edge-of-stability
numbers of a tracked run). Each takes a model and data or a
surface and returns numbers; none draws or parses command lines. Does not belong here: sampling
the grid itself (``core``), report sentences about the numbers (``studies``).
"""
