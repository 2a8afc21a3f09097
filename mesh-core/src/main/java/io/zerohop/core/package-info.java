/**
 * The zerohop mesh: {@link Mesh} wires identity, policy and HBONE; {@link WorkloadRegistry}
 * maps addresses to workloads.
 */
package io.zerohop.core;
