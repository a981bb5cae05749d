class SlurmError(Exception):
    def __init__(self, msg, **details):
        super(SlurmError, self).__init__(msg)
        self.msg = msg
        self.details = details

class SlurmBackend(object):
    """What every backend offers; see slurm_cli.CliBackend and slurm_rest.RestBackend."""
    name = None
