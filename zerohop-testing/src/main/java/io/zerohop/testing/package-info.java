/**
 * JUnit 5 support for tests against zerohop: {@link ZerohopExtension} gives each test class a
 * fresh in-memory CA, SVIDs and TLS for named identities and HBONE peers on loopback;
 * {@link FakeIstioCa} and {@link WorkloadApiServer} stand in for istiod and a SPIRE agent.
 */
package io.zerohop.testing;
