/**
 * Implementation of mesh-core. <strong>Not API:</strong> not exported by the module (at most to
 * sibling zerohop modules), and it may change or disappear in any release without notice.
 * Depend on the parent package instead.
 */
package io.zerohop.core.internal;
