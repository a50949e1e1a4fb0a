"""A procedural pixel-art sprite set, deterministic by seed, for tests and the quickstart.

Modules: ``palettes`` (classes, shapes, colour ramps), ``canvas`` (rasterising shapes in a
design space), ``creatures`` (one drawer per class), ``demo_set`` (rendering by seed, writing
the imagefolder set).

Six elemental classes (``DEMO_CLASSES``) of tiny front-facing creatures, each with its own
palette *and* silhouette so that a small class-conditional model can learn to tell them apart:

* ``fire``     red/orange flame creatures with spiky flame tops and a yellow core
* ``water``    blue droplet blobs and round fish with fins, plus floating bubbles
* ``grass``    green bulbs and bushes with a leafy sprout on top and brown feet/stems
* ``electric`` yellow critters and orbs with zig-zag ears/bolts, black tips, red cheeks
* ``ice``      pale cyan/white angular crystals with spikes and faceted shading
* ``ghost``    purple sheets and wisps with a wavy dithered bottom and big eyes

Every sprite is mirror-symmetric in its silhouette (the alpha mask is exactly symmetric; the
shading is lit from the top-left so colours are not), has a dark 1-pixel outline, 3-4 tone
shading, hard alpha (0 or 255) and a transparent border. Within a class, sprites vary in body
shape (the ``shape`` label of :func:`write_demo_set`), proportions, size, palette (a shift
between two ramps of the class palette) and optional accessories.

Sizes: shapes are defined in a 32-pixel design space and rasterised *directly* at the requested
size (pixel centres are mapped into the design space), so 16, 32 and 64 (and any even size >= 16)
are all drawn natively. At 64 the outline stays 1 pixel and curves are smoother; at 16 small
details (glints, dithering) are dropped. Each creature is drawn on a canvas with a margin and
cropped centred on it; one that would not fit (outline plus a 1-pixel transparent border) is
redrawn slightly smaller, so nothing is ever clipped.

Determinism: each sprite gets its own ``numpy.random.Generator(PCG64)`` seeded from
``(seed, crc32(class name), index)``; parameters are drawn as integers (quarter-pixel steps) and
rasterised with IEEE-exact arithmetic only (+, -, *, /, comparisons, no transcendental
functions), so the same seed gives the same pixels on every machine. Sprite ``i`` of a class does
not depend on ``n_per_class`` or on which other classes are requested.
"""

from ldm_sprites.demo_art.demo_set import make_demo_sprites, render_sprite, write_demo_set
from ldm_sprites.demo_art.palettes import DEMO_CLASSES, DEMO_SHAPES, SUPPORTED_SIZES

__all__ = ["DEMO_CLASSES", "DEMO_SHAPES", "SUPPORTED_SIZES", "make_demo_sprites", "render_sprite",
           "write_demo_set"]
