"""Dataset jobs that scale out: network dissection, dataset examples, atlas sampling and icon
rendering are each a map over shards of the dataset to a small partial result plus an
associative merge (`job`), run in this process by default (`local`) or on Ray actors holding
Session replicas built from a `Recipe` (`on_ray`; Ray is imported only when a job runs there), with progress and
cancel (`progress`) and a notebook progress bar for work left running (`background`)."""

from .recipe import Recipe
from .background import Background, in_background
from .engines import runner
from .job import Partial, ShardJob, merged
from .on_ray import RayEngine
from .options import RunOptions, dataset_job
from .progress import Progress


__all__ = ["Background", "Partial", "Progress", "RayEngine", "Recipe", "RunOptions", "ShardJob", "in_background", "dataset_job", "merged", "runner"]
