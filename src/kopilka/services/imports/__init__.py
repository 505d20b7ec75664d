"""``kopilka import``: members and purchases from CSV or Parquet files, in bulk.

:mod:`.purchases` and :mod:`.members` are the entry points; :mod:`.rows` documents the
file formats and parses rows; :mod:`.files` reads CSV and Parquet; :mod:`.run` holds
what every run shares (report, rejects file, checkpoint); :mod:`.batches` the booking
loop shared by one process and by :mod:`.parallel`; :mod:`.booking` books a batch of
receipts. The set-based writers they use are in :mod:`kopilka.store.bulk`.
"""

from kopilka.services.imports.files import open_source
from kopilka.services.imports.members import import_members
from kopilka.services.imports.purchases import import_purchases
from kopilka.services.imports.run import BATCH, ImportReport

__all__ = ["BATCH", "ImportReport", "import_members", "import_purchases", "open_source"]
