/**
 * Implementation of mesh-kubernetes. <strong>Not API:</strong> it may change or disappear in any
 * release without notice. Depend on the parent package instead.
 */
package io.zerohop.kubernetes.internal;
