"""nbval settings for the lesson notebooks (course_conventions §4.4).

stderr (tqdm, warnings), SVG/PDF (timestamps) and HTML reprs are not compared; everything else printed
by a checked cell is, so notebooks print only rounded, machine-independent values.
"""


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr", "image/svg+xml", "application/pdf", "text/html")
