// OpenBLAS: CBLAS, thread control, and the LAPACK routines gentrain uses
// (OpenBLAS ships LAPACK in the same library).
#ifndef GENTRAIN_CBLAS_SHIM_H
#define GENTRAIN_CBLAS_SHIM_H
#include <cblas.h>

// Symmetric eigendecomposition (double): jobz 'N' or 'V', uplo 'U' or 'L'.
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
             double *w, double *work, const int *lwork, int *iwork, const int *liwork,
             int *info);
// Cholesky factorisation (double).
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
// Inverse of a triangular matrix (double): uplo 'U' or 'L', diag 'N' or 'U'.
void dtrtri_(const char *uplo, const char *diag, const int *n, double *a, const int *lda, int *info);
// Singular value decomposition (double): jobu, jobvt 'N' for the singular values only (descending, in s).
void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a, const int *lda, double *s,
             double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *info);
#endif
