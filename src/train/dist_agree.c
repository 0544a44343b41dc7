/* ibx_dist_agree (include/ibx/dist.h): every rank's status, agreed; the
 * first failing rank's message wins. */
#include <mpi.h>
#include <stdio.h>

#include "ibx/dist.h"
#include "ibx/error.h"

int ibx_dist_agree(MPI_Comm comm, int rc) {
  int rank, world, fail = rc ? 1 : 0, any;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &world);
  MPI_Allreduce(&fail, &any, 1, MPI_INT, MPI_MAX, comm);
  if (!any)
    return IBX_OK;
  int who = fail ? rank : world, first;
  MPI_Allreduce(&who, &first, 1, MPI_INT, MPI_MIN, comm);
  char msg[512];
  snprintf(msg, sizeof msg, "%s", ibx_errmsg());
  MPI_Bcast(msg, sizeof msg, MPI_CHAR, first, comm);
  return ibx_fail(rc ? rc : IBX_ERR_MPI, "%s", msg);
}
