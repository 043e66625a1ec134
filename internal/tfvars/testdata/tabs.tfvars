// tab-aligned, with other comment styles
worker_count	=	2	/* min 2 */
worker_type	=	null	// decided later
region		=	"eu"
