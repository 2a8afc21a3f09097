/**
 * The SPIFFE Workload API provider: {@link SpireIdentityProvider} serves the SVIDs and bundles
 * a SPIRE agent pushes.
 */
package io.zerohop.identity.spire;
